FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY graph ./graph
COPY sql ./sql
RUN pip install --no-cache-dir . && useradd --system filmgraph
USER filmgraph
EXPOSE 8000
CMD ["filmgraph", "serve", "--host", "0.0.0.0"]
