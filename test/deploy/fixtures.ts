/**
 * Sample inputs for evaluating cloudformation/gateway.yaml offline: values for its required
 * parameters and the network stack's exports (default NetworkStackName).
 */
export const GATEWAY_SAMPLE_PARAMETERS: Readonly<Record<string, string>> = {
  ImageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mtls-gateway:abc123',
  EcrRepositoryArn: 'arn:aws:ecr:eu-west-1:123456789012:repository/mtls-gateway',
  PartnerPrefixListId: 'pl-0123456789abcdef0',
  ServerCertSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:gw/server-cert-AbCdEf',
  ServerKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:gw/server-key-AbCdEf',
  CaBundleSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:gw/ca-bundle-AbCdEf',
  CrlBucket: 'partner-crls',
  UpstreamUrl: 'http://receipts.internal:8080',
};

export const NETWORK_IMPORTS: Readonly<Record<string, string>> = {
  'mtls-gateway-network-VpcId': 'vpc-0123',
  'mtls-gateway-network-VpcCidr': '10.40.0.0/16',
  'mtls-gateway-network-PublicSubnetIds': 'subnet-a,subnet-b,subnet-c',
  'mtls-gateway-network-PrivateSubnetIds': 'subnet-d,subnet-e,subnet-f',
};
