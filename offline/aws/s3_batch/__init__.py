"""S3 Batch Operations (LambdaInvoke jobs): the s3control job API (api), the job runner that invokes the
function once per manifest row (runner) and the completion report it writes (report)."""
