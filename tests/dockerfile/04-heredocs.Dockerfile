FROM alpine
RUN <<EOF
set -e
echo "hello $HOME"
EOF
RUN <<EOF sh -x
echo with interpreter
EOF
RUN <<-EOT
	echo tabs stripped
		echo two tabs
	EOT
RUN <<"EOF"
echo $NOT_EXPANDED
EOF
RUN <<'EOF'
echo 'single'
EOF
RUN cat <<FILE1 > /a && cat <<FILE2 > /b
first
FILE1
second
FILE2
COPY <<EOF /etc/motd
Welcome
EOF
COPY --chmod=0755 <<run.sh <<-"conf.txt" /opt/
#!/bin/sh
exec app
run.sh
	key=$value
	conf.txt
RUN --mount=type=cache,target=/var/cache/apk <<EOF
apk add curl

EOF
RUN ["sh", "-c", "echo <<NOT_A_HEREDOC"]
RUN echo after heredocs
