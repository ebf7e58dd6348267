FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -fsSLo /tmp/tool.tgz https://example.com/tool.tar.gz \
 && echo "0000  /tmp/tool.tgz" | sha256sum -c - \
 && tar -xzf /tmp/tool.tgz -C /usr/local && rm /tmp/tool.tgz
USER 1000:1000
