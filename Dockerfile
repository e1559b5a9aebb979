# The rayop operator image: `docker build -t rayop:0.1.0 .`, then `rayop manifests | kubectl apply -f -`.
#
# Two stages: the first builds rayop and its dependencies into a virtualenv, the second copies
# only that virtualenv onto a slim Python. The operator runs as an unprivileged user (65532, as
# distroless' "nonroot"), needs no writable path but /tmp (an emptyDir in the Deployment) and
# listens on 8080 (/metrics) and 8081 (/healthz, /readyz).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/rayop && python -m venv /opt/build
WORKDIR /src
# Dependencies and the build backend first, in layers of their own (from pyproject.toml alone, an
# empty package standing in for rayop), so that a change to rayop's code rebuilds only the last
# layer, and needs no package index: the wheel is built with /opt/build's setuptools, which stays
# in this stage.
COPY pyproject.toml ./
RUN /opt/build/bin/pip install "setuptools>=77" \
 && mkdir rayop && touch rayop/__init__.py README.md && /opt/rayop/bin/pip install . \
 && /opt/rayop/bin/pip uninstall -y rayop && rm -rf rayop build README.md
COPY README.md ./
COPY rayop ./rayop
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation -w /tmp/wheel . \
 && /opt/rayop/bin/pip install --no-deps /tmp/wheel/*.whl \
 && /opt/rayop/bin/python -m compileall -q /opt/rayop

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="rayop" \
      org.opencontainers.image.description="Reconciles Ray's Kubernetes resources (RayCluster, RayJob, RayService)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/rayop /opt/rayop
ENV PATH=/opt/rayop/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RAYOP_LOG_FORMAT=json
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["rayop"]
CMD ["run", "--leader-elect"]
