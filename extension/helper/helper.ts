// The privileged helper: `node dist/helper.js`, started as root on the target (sudo -n, over ssh or locally).
// It speaks only over stdin/stdout and never opens a listening socket.
process.stderr.write('bpf-lsm helper: the helper protocol is not available in this version yet\n');
process.exit(2);
