FROM fedora:40@sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
RUN dnf install -y httpd && dnf clean all
USER 1000:1000
