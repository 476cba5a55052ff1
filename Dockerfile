# Grounded Assistant: the Chainlit app on port 8000.
# The LLM server runs outside the container; on Docker Desktop reach a host service with
#   docker run -p 8000:8000 -e FOUNDRY_LOCAL_ENDPOINT=http://host.docker.internal:5273/v1 \
#     -v "$PWD/knowledge:/app/knowledge" grounded-assistant
# (on Linux add --add-host=host.docker.internal:host-gateway).
# Chat uploads are kept under /app/data (UPLOAD_DIR); mount a volume there to keep them.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 app

WORKDIR /app
COPY --chown=app:app . /app
USER app

# The same install step the README's run command uses (`make install`).
RUN make install VENV=/app/.venv

ENV FOUNDRY_LOCAL_ENDPOINT=http://host.docker.internal:5273/v1 \
    CHAINLIT_APP_ROOT=/app \
    PATH=/app/.venv/bin:$PATH

VOLUME ["/app/knowledge", "/app/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"

CMD ["chainlit", "run", "app/main.py", "--host", "0.0.0.0", "--port", "8000", "--headless"]
