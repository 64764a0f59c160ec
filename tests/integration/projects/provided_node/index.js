// A handler run by AWS's own Node.js runtime interface client (aws-lambda-ric) under runtime = "provided".
exports.handler = async (event, context) => {
  if (event && event.fail) {
    throw new Error(`node failed on purpose: ${event.fail}`);
  }
  console.log(`node handled ${context.awsRequestId}`);
  return {
    echo: event,
    request_id: context.awsRequestId,
    function: context.functionName,
    arn: context.invokedFunctionArn,
    time_left_positive: context.getRemainingTimeInMillis() > 0,
    pid: process.pid,
  };
};
