# Learning Mechanics Lab: the Streamlit app and its JAX engine.
#   docker build -t lml .                                  (CPU)
#   docker build --build-arg JAX_EXTRA=cuda12 -t lml-gpu . (NVIDIA GPU hosts)
#   docker build --build-arg WARM_CACHE=1 -t lml .         (bake every preset into the image's cache)
#   docker run -p 8501:8501 -v lml-cache:/app/cache lml
FROM python:3.11.7-slim-bookworm

ARG JAX_EXTRA=""
ARG WARM_CACHE=0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LML_CACHE_DIR=/app/cache

RUN useradd --create-home --uid 1000 lml
WORKDIR /app

COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && if [ -n "$JAX_EXTRA" ]; then pip install --no-cache-dir "jax[$JAX_EXTRA]==0.10.2"; fi

COPY --chown=lml:lml . .
RUN pip install --no-cache-dir --no-deps -e . \
    && mkdir -p /app/cache && chown -R lml:lml /app/cache

USER 1000
RUN if [ "$WARM_CACHE" = "1" ]; then python -m engine warm; fi

VOLUME ["/app/cache"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["streamlit", "run", "app.py", "--server.port", "8501", "--server.address", "0.0.0.0"]
