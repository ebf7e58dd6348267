FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
ENV PIP_NO_CACHE_DIR=1
RUN python3 -m pip install flask
USER 1000:1000
