# expect: STR006:3
FROM fedora:40@sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
RUN dnf install -y httpd
USER 1000:1000
