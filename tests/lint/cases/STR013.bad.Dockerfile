# expect: STR013:3
FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
RUN apt-get update && apt-get -y dist-upgrade && rm -rf /var/lib/apt/lists/*
USER 1000:1000
