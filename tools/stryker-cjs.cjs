// Loaded by `npm run mutate` (NODE_OPTIONS) into Stryker and its workers. Mocha 12 ships its CLI
// helpers as .cjs files, and @stryker-mutator/mocha-runner 9 requires them without an extension
// (lib/cli/run-helpers, lib/cli/options): Node's require tries only the registered extensions, so
// register .cjs. Remove once a mocha runner that supports Mocha 12 runs on this project's Node
// (the 10.x runner needs Node 22 and still has the extensionless require: stryker-js PR 6205).
if (!require.extensions['.cjs']) require.extensions['.cjs'] = require.extensions['.js'];
