# expect: STR041:3
FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
ADD https://example.com/tool.tar.gz /tmp/
USER 1000:1000
