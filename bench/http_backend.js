// The backend of bench/proxy.py: the smallest fast HTTP server Node has (its own http module), answering every
// request with the same small JSON body as bench/bare_app.py. Usage: node http_backend.js PORT (0: a free one).
"use strict";
const http = require("http");

const body = Buffer.from('{"message":"hello"}');
const server = http.createServer((request, response) => {
  request.resume();
  request.on("end", () => {
    response.writeHead(200, { "content-type": "application/json", "content-length": body.length });
    response.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.argv[2] || process.env.PORT || 0), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
