# expect: STR020:6 STR020:7 STR020:8 STR023:6 STR023:7 STR023:8
FROM alpine:3.20@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
RUN apk add --no-cache --virtual .build gcc musl-dev
COPY app.tar.gz /tmp/
RUN tar -xzf /tmp/app.tar.gz -C /srv
RUN apk del .build
RUN rm -rf /tmp/app.tar.gz
RUN chown -R 1000 /tmp
USER 1000:1000
