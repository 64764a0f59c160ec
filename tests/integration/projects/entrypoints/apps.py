def wsgi(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['PATH_INFO']}?{environ['QUERY_STRING']}".encode()]
