# syntax=docker/dockerfile:1
# tracewatch container image: `docker build -t tracewatch:0.1.0 .`
# Multi-stage: dependencies are built into a virtualenv in the first stage, and only the
# virtualenv is copied into the runtime stage (no pip, no build cache, no source tree).
# The base image is pinned to an exact release; for reproducible builds also pin its digest
# (`docker buildx imagetools inspect python:3.11.13-slim-bookworm`) and pass it as
# --build-arg PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/tracewatch
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir tracewatch && touch tracewatch/__init__.py \
    && /opt/tracewatch/bin/pip install . \
    && /opt/tracewatch/bin/pip uninstall --yes tracewatch
COPY tracewatch ./tracewatch
RUN /opt/tracewatch/bin/pip install --no-deps . \
    && /opt/tracewatch/bin/python -m compileall -q /opt/tracewatch

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="tracewatch" \
      org.opencontainers.image.description="OpenTelemetry traces of Kubernetes object lifecycles" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/tracewatch/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/tracewatch /opt/tracewatch
COPY config/tracewatch.yaml /etc/tracewatch/tracewatch.yaml
# Non-root, numeric so that `runAsNonRoot` can verify it; the same uid the manifests use.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["tracewatch"]
CMD ["run", "--config", "/etc/tracewatch/tracewatch.yaml"]
