FROM python:3.11-slim
WORKDIR /srv/shop
COPY pyproject.toml README.md ./
COPY app app
COPY stripe_emulator stripe_emulator
COPY templates templates
COPY static static
COPY worker.py ./
RUN pip install --no-cache-dir .
ENV SHOP_ENV=production PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", "app:create_app()"]
