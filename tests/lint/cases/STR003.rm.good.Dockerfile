FROM alpine:3.20@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
RUN apk update && apk add curl && rm -rf /var/cache/apk/*
USER 1000:1000
