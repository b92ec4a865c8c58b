"""A bare Flask endpoint: 200 and two bytes, nothing else."""
from flask import Flask

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return "ok"
