"""The pulumi-aws type tokens the rules look at (the `type` of a resource in a preview)."""

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"  # pulumi-aws 6's name, still accepted (deprecated) by 7
BUCKETS = (BUCKET, BUCKET_V2)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_ENCRYPTION_V2 = (
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
)
BUCKET_ENCRYPTIONS = (BUCKET_ENCRYPTION, BUCKET_ENCRYPTION_V2)

QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
TABLE = "aws:dynamodb/table:Table"
KMS_KEY = "aws:kms/key:Key"

FUNCTION = "aws:lambda/function:Function"
EVENT_SOURCE_MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
FUNCTION_EVENT_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
PERMISSION = "aws:lambda/permission:Permission"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
USER_POLICY = "aws:iam/userPolicy:UserPolicy"
GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"

# Resource policies, by the resource type that carries them and the property holding the document.
RESOURCE_POLICY_PROPS = {
    BUCKET_POLICY: "policy",
    QUEUE_POLICY: "policy",
    TOPIC_POLICY: "policy",
    BUCKET: "policy",  # inline (deprecated in pulumi-aws 7, still honoured)
    BUCKET_V2: "policy",
    QUEUE: "policy",
    TOPIC: "policy",
    KMS_KEY: "policy",
    ROLE: "assumeRolePolicy",  # a role's trust policy is its resource policy
}
# Identity policies: what a principal may do.
IDENTITY_POLICY_TYPES = (ROLE_POLICY, MANAGED_POLICY, USER_POLICY, GROUP_POLICY)
