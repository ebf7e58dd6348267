# expect: STR023:4
FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
RUN mkdir -p /srv/app
RUN chown 1000 /srv/app
USER 1000:1000
