FROM debian:12-slim
RUN apt-get update && apt-get install -y curl
WORKDIR /app
COPY . .
CMD ["./run.sh", "--port", "8080"]
