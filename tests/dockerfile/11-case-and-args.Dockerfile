ARG REGISTRY=docker.io
ARG TAG
FROM ${REGISTRY}/library/alpine:${TAG:-latest}
ARG TAG
Run echo $TAG
WorkDir /work dir
user 1000
FROM 0 AS second-stage.v2
Copy --from=0 /a /b
