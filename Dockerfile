FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md schema.graphql ./
COPY api ./api
COPY tagging ./tagging
COPY store ./store
RUN pip install --no-cache-dir .

# Mount a volume holding the store, or point PORTRAIT_DATABASE_URL at PostgreSQL.
ENV PORTRAIT_DATABASE_URL=sqlite:////data/portrait.db \
    PORTRAIT_ENV=production
VOLUME ["/data"]
EXPOSE 8000
CMD ["portrait", "serve", "--host", "0.0.0.0", "--port", "8000"]
