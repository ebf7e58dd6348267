# expect: STR074:3
FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
RUN wget -qO- https://example.com/x.tgz | tar xz
USER 1000:1000
