# syntax=docker/dockerfile:1
# expect: STR002:5 STR012:6
FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
RUN <<EOF
apt-get update
apt-get install -y curl
EOF
USER 1000:1000
