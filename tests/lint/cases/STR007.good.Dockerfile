FROM opensuse/leap:15.6@sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
RUN zypper install -y curl && zypper clean -a
USER 1000:1000
