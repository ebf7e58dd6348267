FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
WORKDIR /srv
RUN npm ci && npm cache clean --force
# strata:ignore=STR023
RUN --mount=type=cache,target=/usr/local/share/.cache/yarn yarn install
USER 1000:1000
