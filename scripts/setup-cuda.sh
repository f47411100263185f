#!/usr/bin/env bash
# Opt-in: install onnxruntime-node's CUDA 12 execution provider with onnxruntime-node's own installer.
# Needs network access to its package feed, an NVIDIA driver, CUDA 12 and cuDNN 9 on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(node -e "console.log(require('path').dirname(require.resolve('onnxruntime-node/package.json')))" 2>/dev/null || echo packages/runtime/node_modules/onnxruntime-node)
[ -d "$dir" ] || dir=node_modules/onnxruntime-node
echo "running onnxruntime-node's installer in $dir (ONNXRUNTIME_NODE_INSTALL=cuda12)"
# the project denies this install script (allowScripts in package.json); run it here by hand
(cd "$dir" && ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install.js)
node -e "import('onnxruntime-node').then(o=>console.log('backends:', JSON.stringify(o.listSupportedBackends())))"
