// Preloaded with `node --require` so that a server calling `listen(port)` binds 127.0.0.1 only
// (server-everything and supergateway listen on every interface; tests and benchmarks stay on
// loopback). A listen() call that already names a host is left alone.
const net = require("node:net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const [first, second] = args;
  const isPort = typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first));
  if (isPort && (second === undefined || typeof second === "function")) {
    args.splice(1, 0, "127.0.0.1");
  } else if (first && typeof first === "object" && first.port !== undefined && !first.host) {
    args[0] = { ...first, host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
