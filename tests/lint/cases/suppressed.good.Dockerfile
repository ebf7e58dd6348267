FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
# strata:ignore=STR002,STR012
RUN apt-get update && apt-get install -y curl
USER 1000:1000
