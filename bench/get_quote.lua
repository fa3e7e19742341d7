-- wrk script: POST /getQuote for the free built-in ipfs storage (each request stores a quote).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"ipfs","files":[{"length":1048576},{"length":42}],"duration":2592000,'
  .. '"payment":{"chainId":"1","tokenAddress":"0x0000000000000000000000000000000000000000"},'
  .. '"userAddress":"0xCC866199C810B216710A3F3714d35920C343a8CD"}'
