# expect: STR050:3 STR050:4 STR050:5
FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
ENV DB_PASSWORD=hunter2
ARG GITHUB_TOKEN
ENV CONFIG=ghp_abcdefghijklmnopqrstuvwxyz0123456789
USER 1000:1000
