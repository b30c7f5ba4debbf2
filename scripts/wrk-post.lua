-- wrk script: every request POSTs the JSON file named by WRK_BODY with the key in WRK_KEY.
wrk.method = "POST"
local file = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = os.getenv("WRK_KEY") or ""
