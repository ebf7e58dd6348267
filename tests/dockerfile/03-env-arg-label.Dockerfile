FROM alpine
ARG A B=2 C="three four"
ENV PATH=/opt/bin:$PATH HOME="/home/app user" EMPTY=
ENV LEGACY value with   spaces
ENV QUOTED 'single quoted'
LABEL org.opencontainers.image.title="My App" version=1.0 \
      "com.example.quoted key"=x
LABEL legacy-label some value
ENV escaped=a\ b
