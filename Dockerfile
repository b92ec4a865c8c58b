# The shop's image: web (gunicorn), workers and the emulator all run from it (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /srv/shop
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY app app
COPY stripe_emulator stripe_emulator
RUN pip install .
COPY migrations migrations
COPY templates templates
COPY static static
COPY worker.py gunicorn.conf.py ./
RUN useradd --system --uid 10001 --home-dir /srv/shop shop \
 && mkdir -p /srv/shop/instance /var/run/shop-metrics \
 && chown shop /srv/shop/instance /var/run/shop-metrics
USER shop
ENV SHOP_ENV=production PROMETHEUS_MULTIPROC_DIR=/var/run/shop-metrics
EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"]
