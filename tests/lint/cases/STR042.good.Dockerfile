FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
RUN curl -fsSLo /tmp/install.sh https://example.com/install.sh \
 && sh /tmp/install.sh && rm /tmp/install.sh
USER 1000:1000
