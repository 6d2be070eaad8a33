# syntax=docker/dockerfile:1
# Build stage: wheels for the app and its pinned dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN python -m pip install --no-cache-dir --upgrade pip \
 && python -m pip wheel --no-cache-dir -c constraints.txt --wheel-dir /wheels .

# Runtime stage: only the wheels, a non-root user, data in a volume.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 ticketlens
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
RUN mkdir -p /app/data && chown ticketlens:ticketlens /app/data
USER ticketlens
VOLUME ["/app/data"]
CMD ["python", "-m", "bot"]
