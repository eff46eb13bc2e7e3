# The API without a database: docker-compose.yml pairs it with PostgreSQL. The first stage
# builds the sdist and, from it, the wheel (as tests/test_package.py does); the image installs
# only that wheel, without the `embedded` extra (no PostgreSQL binaries) and without sources.
FROM python:3.11-slim AS build
COPY . /src
RUN pip install --no-cache-dir "build>=1.2,<2" && python -m build --outdir /dist /src

FROM python:3.11-slim
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl && useradd --system filmgraph
USER filmgraph
EXPOSE 8000
CMD ["filmgraph", "serve", "--host", "0.0.0.0"]
