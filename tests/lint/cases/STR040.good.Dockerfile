FROM debian:12-slim@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
ADD rootfs.tar.gz /
COPY app.conf /etc/app.conf
USER 1000:1000
