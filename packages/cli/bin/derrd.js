#!/usr/bin/env node
// The installed `derrd` command. It is a checked-in file (not dist/main.js) because npm links a workspace's bins
// during `npm ci`, before `prepare` has built dist/: a bin pointing into dist/ was silently left unlinked.
import '../dist/main.js';
