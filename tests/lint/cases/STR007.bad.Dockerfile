# expect: STR007:3
FROM opensuse/leap:15.6@sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
RUN zypper install -y curl
USER 1000:1000
