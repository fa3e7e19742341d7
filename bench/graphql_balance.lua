-- wrk script: the GraphQL balance query for the token in the BENCH_TOKEN environment variable.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"query($t: String!) { balance(token: $t) }","variables":{"t":"' .. os.getenv("BENCH_TOKEN") .. '"}}'
