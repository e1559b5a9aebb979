# The Ray image of rayop's real-node tier: `localhost/ray:<version>`, Ray with its dashboard and
# Serve on a Debian bookworm + Python base built locally (tests/realnode/prepare.sh), laid out as
# rayproject/ray lays out its images where pods notice: user `ray` (uid 1000) in /home/ray, `ray`
# and `python` on PATH, bash and wget present (KubeRay's probes run `wget` through `bash -c`).
ARG BASE
FROM ${BASE}
ARG RAY_VERSION
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/ray \
 && /opt/ray/bin/pip install "ray[default,serve]==${RAY_VERSION}" \
 && useradd --create-home --uid 1000 --shell /bin/bash ray
ENV PATH=/opt/ray/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 1000:100
WORKDIR /home/ray
CMD ["bash"]
