# The anchors run on gunicorn's defaults: the command line sets the bind address, workers and threads.
