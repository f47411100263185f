#!/usr/bin/env node
// A checked-in file (not dist/): npm links a workspace's bins during `npm ci`, before `prepare` has built dist/.
import '../dist/assets-cli.js';
