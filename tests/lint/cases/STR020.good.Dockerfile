FROM alpine:3.20@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
COPY --chown=1000 app.tar.gz /tmp/
RUN apk add --no-cache --virtual .build gcc musl-dev \
 && tar -xzf /tmp/app.tar.gz -C /srv \
 && apk del .build
USER 1000:1000
