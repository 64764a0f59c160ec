import sys
import time


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    print("slow: started", file=sys.stderr, flush=True)  # a log line the timed-out invocation keeps
    for number in range(100_000):  # the function's 1 s timeout cuts it off long before
        yield f"tick {number}\n".encode()
        time.sleep(0.05)
