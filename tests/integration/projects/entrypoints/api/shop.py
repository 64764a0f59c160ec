from _lib.greeting import greet
from flask import Flask, make_response, redirect, request

app = Flask(__name__)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@app.route("/api/shop/hello/<name>")
def hello(name):
    return {"greeting": greet(name), "args": request.args.to_dict(flat=False)}


@app.route("/api/shop/old")
def old():
    return redirect("/api/shop/hello/new")


@app.route("/api/shop/logo.png")
def logo():
    response = make_response(PNG)
    response.headers["Content-Type"] = "image/png"
    return response


@app.post("/api/shop/cart")
def cart():
    response = make_response({"cart": request.get_json(), "session": request.cookies.get("session")})
    response.set_cookie("cart", "1")
    response.set_cookie("session", "s2", httponly=True)
    return response
